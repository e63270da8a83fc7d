/*M!999999\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: chronicle_dump_fixtures
-- ------------------------------------------------------
-- Server version	10.11.19-MariaDB-0+deb12u1

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

--
-- Table structure for table `ledger_entries`
--

DROP TABLE IF EXISTS `ledger_entries`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `ledger_entries` (
  `Entry ID` bigint(20) NOT NULL,
  `kind` varchar(16) NOT NULL,
  `amount` decimal(20,6) DEFAULT NULL,
  `occurred_at` timestamp(3) NULL DEFAULT NULL,
  `booked_on` date DEFAULT NULL,
  `attachment` blob DEFAULT NULL,
  `details` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL CHECK (json_valid(`details`)),
  `approved` tinyint(1) DEFAULT NULL,
  `memo` text DEFAULT NULL,
  `flags` bit(5) DEFAULT NULL,
  PRIMARY KEY (`Entry ID`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `ledger_entries`
--

LOCK TABLES `ledger_entries` WRITE;
/*!40000 ALTER TABLE `ledger_entries` DISABLE KEYS */;
INSERT INTO `ledger_entries` (`Entry ID`, `kind`, `amount`, `occurred_at`, `booked_on`, `attachment`, `details`, `approved`, `memo`, `flags`) VALUES (2,'debit',-0.000001,'2016-06-15 21:30:00.000','2016-06-15',NULL,NULL,0,NULL,NULL),
(3,'credit',0.000000,'2016-10-30 01:30:00.000','2016-10-30',0x68656C6C6F,'{\"nested\": {\"k\": null}}',1,'Ünïcödé ✓',0x00),
(4,'debit',7.000000,'2017-01-02 03:04:05.000','2017-01-02',NULL,'[]',NULL,'approved is NULL',0x01),
(9007199254740993,'credit',12345678901234.123456,'2016-01-01 12:00:00.123','2016-01-01',0x00FF10275C,'{\"b\": [1, 2], \"a\": \"x\\ty\"}',1,'backslash \\ tab	 bell formfeed vtab backspace quote \' dq \"',0x15);
/*!40000 ALTER TABLE `ledger_entries` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `payments`
--

DROP TABLE IF EXISTS `payments`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `payments` (
  `payment_id` varchar(16) NOT NULL,
  `user_id` int(11) DEFAULT NULL,
  `status` varchar(16) DEFAULT NULL,
  `amount` decimal(12,2) DEFAULT NULL,
  `currency` char(3) DEFAULT NULL,
  `country` varchar(2) DEFAULT NULL,
  `created` datetime DEFAULT NULL,
  `note` text DEFAULT NULL,
  PRIMARY KEY (`payment_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `payments`
--

LOCK TABLES `payments` WRITE;
/*!40000 ALTER TABLE `payments` DISABLE KEYS */;
INSERT INTO `payments` (`payment_id`, `user_id`, `status`, `amount`, `currency`, `country`, `created`, `note`) VALUES ('P-0001',42,'completed',19.99,'EUR','DE','2016-01-01 13:00:00','plain note'),
('P-0002',7,'refunded',0.50,'USD','US','2016-03-27 01:30:00',NULL),
('P-0003',42,'failed',1234567.89,'CHF','CH','2016-07-01 12:00:00','tab	here\nnew line, back\\slash and \\N literally'),
('P-0004',99,'completed',5.00,'EUR','FR','2016-10-30 02:30:00','quotes: \"double\" and \'single\''),
('P-0005',13,'pending',100.00,'GBP','GB','2016-12-31 23:59:59','Zürich café naïve — 東京 🎉'),
('P-0006',1,'completed',0.01,'EUR','DE','2017-01-01 00:00:00',''),
('P-0007',5,'completed',-3.50,'EUR','AT','2017-02-01 08:15:00','carriage\r\nreturn; ctrl  and \\. end'),
('P-0008',8,'completed',10.00,'EUR','DE','2016-03-27 02:30:00','in the DST gap'),
('P-0009',9,'completed',1.00,'EUR','DE','2017-03-01 10:00:00','TEST: smoke payment');
/*!40000 ALTER TABLE `payments` ENABLE KEYS */;
UNLOCK TABLES;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on 2026-11-26 23:34:31
